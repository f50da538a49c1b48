"""Small ASGI apps the benchmarks serve with uvicorn."""
