"""One module per delivery channel, owning its channel model and implementing the protocols of base.py
(`async def send(message)`, and the capabilities it has); config.py builds them from `channels:`."""
