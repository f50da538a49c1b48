"""One module per delivery channel, each behind `async def send(message)`."""
