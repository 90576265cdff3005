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
WEBHOOK_STREAM = "hooks"  # verified webhook bodies, partitioned by platform; the worker parses them into INBOUND_STREAM
RAW_STREAM = KEY_PREFIX + "raw"  # raw webhook bodies, archived to MongoDB by the worker
RAW_STREAM_MAXLEN = 200_000
CONSUMER_GROUP = "papo"

# MongoDB (more)
MONGO_RAW_WEBHOOKS = "raw_webhooks"
MONGO_PLATFORM_EVENTS = "platform_events"
MONGO_SPOOL = KEY_PREFIX + "mongo-spool"  # list of documents kept while MongoDB was unreachable

# Metrics recorded by processes that serve no /metrics, read by `papo serve` at each scrape
METRICS_REPLY_SECONDS = KEY_PREFIX + "metrics:reply-seconds"  # hash: reply latency histogram (papo.metrics)
METRICS_WEBHOOK_EVENTS = KEY_PREFIX + "metrics:webhook-events"  # hash: webhook events by outcome (papo.metrics)
BOT_HEARTBEAT = KEY_PREFIX + "bot:heartbeat"  # string with a TTL: the admin bot polled Telegram lately
BOT_HEARTBEAT_TTL = 60  # seconds; a long poll returns at least every 25 s

# Keys of single features. A prefix ending in ":" takes one id (f"{PREFIX}{id}"); a key of several parts is
# built only by its function below, the one place that knows its layout.
AI_CACHE = KEY_PREFIX + "ai:cache:"  # + sha256 of model and text -> the cached classification (papo.ai.openai_cache)
LAST_EVENT = KEY_PREFIX + "last-event"  # hash account id -> unix seconds of the newest event received
HUB_UNSUBSCRIBING = KEY_PREFIX + "hub-unsubscribing:"  # + channel id: Papo asked the hub to unsubscribe
HUB_SUBSCRIBING = KEY_PREFIX + "hub-subscribing:"  # + channel id -> the lease Papo asked for (pending request)
HUB_VERIFIED = KEY_PREFIX + "hub-verified"  # hash channel id -> {"mode", "at", "lease"} from the hub's call
OAUTH_STATE_USED = KEY_PREFIX + "oauth-state:"  # + nonce, set once the state has been spent
CONNECT_CLAIM = KEY_PREFIX + "connect-claim:"  # + platform:account id -> the connection checking and storing it
META_DELETION = KEY_PREFIX + "meta-deletion:"  # + confirmation code -> JSON status, kept 90 days
PHONE_INDEX = KEY_PREFIX + "wa-phone:"  # + business phone_number_id -> hash: normalized phone -> BSUID
SENT_KEY = KEY_PREFIX + "sent:"  # + outbound id -> hash: state, attempts, outcome, recorded, logged…
ACCOUNT_CACHE = KEY_PREFIX + "out:account:"  # + connected account id -> JSON (ciphertexts only)
ACCOUNT_PROBLEM = KEY_PREFIX + "out:account-problem:"  # + account id -> hash: error, at, outbound_id
PRIVATE_REPLY_KEY = KEY_PREFIX + "private-reply:"  # + account id + ":" + comment id -> outbound id
NOTIFY_STREAM = KEY_PREFIX + "notify"
NOTIFY_SEEN = KEY_PREFIX + "notify-seen:"  # + dedupe key
RULE_FIRED = KEY_PREFIX + "rule-fired:"  # + {conversation id} -> hash rule id -> "epoch|action_id"
REPLIES = KEY_PREFIX + "replies:"  # + {conversation id} -> zset action id -> epoch (automated replies)
YOUTUBE_SEEN = KEY_PREFIX + "youtube:seen:"  # + channel id -> ISO time of the newest comment seen
YOUTUBE_LOCK = KEY_PREFIX + "youtube:lock:"  # + channel id: one poller per channel and interval
RATE_BUCKET = KEY_PREFIX + "rl:"  # + {account id}:limit name -> token bucket (papo.pipeline.ratelimit)
LIFECYCLE_LOCK = KEY_PREFIX + "lifecycle:lock"
TOKEN_REFRESH_LOCK = KEY_PREFIX + "token-refresh:"  # + account id: one refresh at a time (refresh tokens rotate)
ENGAGEMENT_LOCK = KEY_PREFIX + "posts:engagement-lock"
BOT_FSM = KEY_PREFIX + "bot:fsm"  # aiogram's RedisStorage prefix
BOT_STRANGER = KEY_PREFIX + "bot:stranger:"  # + telegram user id -> answers given this minute
BOT_SEEN = KEY_PREFIX + "bot:seen:"  # + telegram user id: throttles last_seen_at writes
LINK_TRIES = KEY_PREFIX + "bot:link-fail:"  # + telegram user id -> codes tried this hour (kept on success)
LINK_TRIES_ALL = KEY_PREFIX + "bot:link-fail:all"  # codes tried this hour by anyone: many accounts, one limit
POST_UPLOADS = KEY_PREFIX + "bot:post-media:"  # + Telegram user id: the files of the draft being composed
ALERT_SENT = KEY_PREFIX + "notify-sent:"  # + entry id + ":" + chat id
ALERT_ATTEMPTS = KEY_PREFIX + "notify-attempts"  # hash entry id -> deliveries


def account_key(platform: str, platform_account_id: str) -> str:
    """One platform account's field in ACCOUNT_INDEX and ACCOUNT_SECRETS: "platform:platform_account_id"."""
    return f"{platform}:{platform_account_id}"


def own_sent_key(platform: str, platform_message_id: str) -> str:
    """The marker of a message Papo sent itself (its echo is not the owner's)."""
    return f"{OWN_SENT}{platform}:{platform_message_id}"


def connect_claim_key(platform: str, platform_account_id: str) -> str:
    """The lock of the connection checking and storing one platform account."""
    return f"{CONNECT_CLAIM}{platform}:{platform_account_id}"


def private_reply_key(account_id: object, comment_id: object) -> str:
    """The private reply claimed for one comment of one account."""
    return f"{PRIVATE_REPLY_KEY}{account_id}:{comment_id}"


def rule_state_keys(conversation_id: object) -> tuple[str, str]:
    """A conversation's rule-fired hash and replies zset (one hash tag, so one Lua script touches both)."""
    return f"{RULE_FIRED}{{{conversation_id}}}", f"{REPLIES}{{{conversation_id}}}"


def bucket_key(account_id: object, name: str) -> str:
    """One account's token bucket for one limit (hash-tagged by account)."""
    return f"{RATE_BUCKET}{{{account_id}}}:{name}"


def alert_sent_key(entry_id: str, chat_id: object) -> str:
    """The mark that one alert reached one chat."""
    return f"{ALERT_SENT}{entry_id}:{chat_id}"


def lock_key(key: str) -> str:
    """The lock guarding a list key while one process drains it (the Mongo spool)."""
    return f"{key}:lock"


def stream_tag(name: str, partition: int) -> str:
    """The hash tag every key of one stream partition starts with (stream, dedupe, dead letters, lease)."""
    return f"{KEY_PREFIX}{{{name}:{partition}}}"


# The keys of one stream partition, `stream_tag(name, partition) + ":" + part` (papo.streams.spec names each).
PARTITION_STREAM = "stream"  # the Redis stream itself
PARTITION_DEAD = "dead"  # its dead letters
PARTITION_FAILURES = "failures"  # hash entry id -> failed deliveries
PARTITION_SEEN = "seen:"  # + dedupe key: the event was appended (a prefix: it takes the key)
PARTITION_LEASE = "lease"  # "worker#epoch", expiring unless renewed
PARTITION_EPOCH = "epoch"  # the fencing counter


def partition_key(name: str, partition: int, part: str) -> str:
    """One key of a stream partition (`part`: one of the PARTITION_* above)."""
    return f"{stream_tag(name, partition)}:{part}"


def workers_key(name: str) -> str:
    """The sorted set of a stream's live consumers."""
    return f"{KEY_PREFIX}workers:{name}"
