"""Every Redis stream, consumer group and key prefix, and Mongo collection, in one place."""

# MongoDB
MONGO_ANALYTICS = "analytics_logs"
MONGO_AI_INTERACTIONS = "ai_interactions"

# Redis keys
KEY_PREFIX = "papo:"
READY_PROBE_KEY = KEY_PREFIX + "ready"
