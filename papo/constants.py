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
OWN_SENT = KEY_PREFIX + "own-sent:"  # + platform:platform message id -> "1": Papo sent it (its echo is not the owner's)
OWN_SENT_TTL = 24 * 3600
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

# Metrics recorded by processes that serve no /metrics, read by `papo serve` at each scrape
METRICS_REPLY_SECONDS = KEY_PREFIX + "metrics:reply-seconds"  # hash: reply latency histogram (papo.metrics)
BOT_HEARTBEAT = KEY_PREFIX + "bot:heartbeat"  # string with a TTL: the admin bot polled Telegram lately
BOT_HEARTBEAT_TTL = 60  # seconds; a long poll returns at least every 25 s
