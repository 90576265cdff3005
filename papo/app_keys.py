"""Every aiohttp application key, declared once (typed `web.AppKey`s, no string keys)."""

from aiohttp import ClientSession, web

from papo.adapters.adapter_registry import AdapterRegistry
from papo.adapters.base import WebhookSecrets
from papo.config import Settings
from papo.runtime import Stores, StoreUrls
from papo.services.queues import Queues

SETTINGS = web.AppKey("settings", Settings)
STORE_URLS = web.AppKey("store_urls", StoreUrls)
STORES = web.AppKey("stores", Stores)
HTTP = web.AppKey("http", ClientSession)
QUEUES = web.AppKey("queues", Queues)
WEBHOOK_SECRETS = web.AppKey("webhook_secrets", WebhookSecrets)
ADAPTERS = web.AppKey("adapters", AdapterRegistry)
