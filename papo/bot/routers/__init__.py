"""The bot's routers, in the order they are tried (the linked-owner filter sits on each router).

Handlers are declared once, on module-level routers; `get_routers()` hands out copies, because an
aiogram router belongs to one dispatcher and a process (or a test session) may build several.
"""

from __future__ import annotations

from aiogram import Router

from papo.bot.routers import (
    broadcasts,
    clients,
    conversations,
    data_requests,
    hours,
    leads,
    posts,
    rule_wizard,
    rules,
    settings,
    start,
    stats,
    templates,
)

ORDER = (start.router, clients.router, leads.router, conversations.router, data_requests.router, templates.router,
         rule_wizard.router, rules.router, posts.router, broadcasts.router, stats.router, settings.router, hours.router,
         start.fallback)


def copy_router(source: Router) -> Router:
    """A new router with the same handlers and router-level filters (handler objects are shared, read-only)."""
    copy = Router(name=source.name)
    for name, observer in source.observers.items():
        target = copy.observers[name]
        target.handlers.extend(observer.handlers)
        target._handler.filters = list(observer._handler.filters or [])  # router-level filters (Linked)
    return copy


def get_routers() -> list[Router]:
    """Fresh copies of the routers, start first and the fallback last."""
    return [copy_router(router) for router in ORDER]
