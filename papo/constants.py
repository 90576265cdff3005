"""Every Redis stream, consumer group and key prefix, and Mongo collection, in one place."""

# MongoDB
MONGO_ANALYTICS = "analytics_logs"
MONGO_AI_INTERACTIONS = "ai_interactions"

# Redis keys
KEY_PREFIX = "papo:"
ACCOUNT_INDEX = KEY_PREFIX + "accounts"  # hash "platform:platform_account_id" -> JSON [[account, user], …]
CAMPAIGN_PAUSE = KEY_PREFIX + "campaign-pause:"  # + account id -> set (with a TTL) after WhatsApp 130429
ACCOUNT_SECRETS = KEY_PREFIX + "account-secrets"  # hash "platform:platform_account_id" -> encrypted secret
ACTIVE_CONVERSATION = KEY_PREFIX + "active:"  # + conversation id -> hash (last inbound time, platform…)
ACTIVE_BY_USER = KEY_PREFIX + "recent:"  # + user id -> zset conversation id by last message time
ACTIVE_TTL = 48 * 3600  # a conversation stays "active" in the cache two days (the 24 h window and then some)

# Streams (see papo.streams.spec: each is partitioned; keys carry a hash tag per partition)
INBOUND_STREAM = "in"
RAW_STREAM = KEY_PREFIX + "raw"  # raw webhook bodies, archived to MongoDB by the worker
RAW_STREAM_MAXLEN = 200_000
CONSUMER_GROUP = "papo"

# MongoDB (more)
MONGO_RAW_WEBHOOKS = "raw_webhooks"
MONGO_PLATFORM_EVENTS = "platform_events"
MONGO_SPOOL = KEY_PREFIX + "mongo-spool"  # list of documents kept while MongoDB was unreachable
