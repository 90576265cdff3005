"""MongoDB side of Papo: analytics events and AI interactions (PyMongo's AsyncMongoClient)."""

from papo.analytics.store import AnalyticsStore, open_mongo

__all__ = ["AnalyticsStore", "open_mongo"]
