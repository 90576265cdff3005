"""The aiohttp HTTP layer: thin handlers that call services or enqueue work."""
