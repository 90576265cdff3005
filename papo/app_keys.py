"""Every aiohttp application key, declared once (typed `web.AppKey`s, no string keys)."""

from aiohttp import ClientSession, web

from papo.config import Settings
from papo.runtime import Stores, StoreUrls

SETTINGS = web.AppKey("settings", Settings)
STORE_URLS = web.AppKey("store_urls", StoreUrls)
STORES = web.AppKey("stores", Stores)
HTTP = web.AppKey("http", ClientSession)
