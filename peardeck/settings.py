"""The one settings module. Everything that differs between a laptop and production comes from
the environment (see peardeck/env.py); with nothing set, the app runs on its embedded defaults:
SQLite, an in-memory channel layer, a local-memory cache and Firebase switched off."""

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from peardeck.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PEARDECK_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# HTTPS switches on everything `manage.py check --deploy` asks for; staging and production set it.
HTTPS = env_bool("PEARDECK_HTTPS", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if HTTPS:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when PEARDECK_HTTPS is on")
    # Embedded default: a random key kept under var/ so logins survive a restart.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

PEARDECK_VERSION = env_str("PEARDECK_VERSION", "dev")
PEARDECK_COMMIT = env_str("PEARDECK_COMMIT", "unknown")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "ninja",
    "channels",
    "accounts",
    "sessions.apps.ClassroomSessionsConfig",
    "responses",
    "mirror",
    "live",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "runtime.health.HealthCheckMiddleware",
    # Outside everything that may answer by itself, so those answers are JSON under /api/ too.
    "web.middleware.ApiErrorsAsJson",
    "django.middleware.security.SecurityMiddleware",
    "web.csp.ContentSecurityPolicyMiddleware",
    # A student's poll with nothing new is answered here, from the live-state cache (live/polling.py).
    "live.polling.ConditionalPollMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "peardeck.urls"
CSRF_FAILURE_VIEW = "web.middleware.csrf_failure"
# Threads per web worker serving HTTP requests and socket messages (runtime/threads.py); with the 2
# dashboard-update threads, the 3 of the teacher's lane and the answer writer, keep
# DATABASE_POOL_MAX at or above HTTP_THREADS + 6 (its default).
HTTP_THREADS = env_int("HTTP_THREADS", 8)
WSGI_APPLICATION = None
ASGI_APPLICATION = "peardeck.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names another.
_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_health_checks=False)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI each request's sync code may run on a different thread, so per-thread persistent
        # connections pile up until PostgreSQL refuses more; a pool per worker bounds them instead.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN", 1),
            "max_size": env_int("DATABASE_POOL_MAX", HTTP_THREADS + 6),
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "peardeck.sqlite3")),
            # SQLite serialises writers; wait for the lock rather than failing under a burst.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.NativeRedisCache",
            "LOCATION": REDIS_URL,
        }
    }
    # Pub/sub: a broadcast is one PUBLISH per session, which every web process hears once and hands
    # to its own sockets; the list-based core layer writes one message per socket into Redis.
    # bench/fanout measures both (CHANNEL_LAYER=core|pubsub): 1,000 sockets, p99 89 ms against 205 ms.
    _layer = env_str("CHANNEL_LAYER", "pubsub")
    if _layer not in {"pubsub", "core"}:
        raise ImproperlyConfigured(f"CHANNEL_LAYER must be 'pubsub' or 'core', not {_layer!r}")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"
            if _layer == "pubsub"
            else "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    # Rate-limit counters live here: culling at the default 300 entries would forget them under
    # exactly the load they count (a thousand wrong join codes).
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Teachers sign in with a password (the login form, POST /api/auth/signup, the password grant of
# POST /api/auth/tokens) and/or their school's Google or Microsoft account (accounts/oidc.py).
# Passwords stay on for the embedded default (`make run`'s demo teacher); production turns them off.
PASSWORD_SIGN_IN = env_bool("PASSWORD_SIGN_IN", True)
_OIDC_DISCOVERY_DEFAULTS = {
    "google": "https://accounts.google.com/.well-known/openid-configuration",
    # `organizations`: any work or school account, never a personal Microsoft account.
    "microsoft": "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
}


def _oidc_provider(name: str, discovery_default: str) -> dict | None:
    """A provider is on when its client id is set; its secret is read only then, so an overlay may
    point OIDC_<NAME>_CLIENT_SECRET_FILE at a Secret that only exists where the provider is used."""
    prefix = f"OIDC_{name.upper()}"
    client_id = env_str(f"{prefix}_CLIENT_ID").strip()
    if not client_id:
        return None
    client_secret = env_str(f"{prefix}_CLIENT_SECRET")
    if not client_secret:
        raise ImproperlyConfigured(f"{prefix}_CLIENT_ID is set, so {prefix}_CLIENT_SECRET(_FILE) must be too")
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "discovery_url": env_str(f"{prefix}_DISCOVERY_URL", discovery_default),
    }


OIDC_PROVIDERS = {
    name: config
    for name, default in _OIDC_DISCOVERY_DEFAULTS.items()
    if (config := _oidc_provider(name, default)) is not None
}
# Each call to a provider (discovery, keys, token) gives up after this many seconds.
OIDC_HTTP_TIMEOUT = env_float("OIDC_HTTP_TIMEOUT", 5.0)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/teach/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# A drawing answer is capped well below this; anything bigger is refused before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("PEARDECK_MAX_BODY_BYTES", 512 * 1024)

# Rate limits: (requests, window seconds) per client address, or per network for joins (an IPv4
# address or an IPv6 /64; web/ratelimit.py explains each join limit).
RATE_LIMITS = {
    # Every join attempt from one network: a few whole classes behind one school NAT in a minute.
    "join": (env_int("RATE_LIMIT_JOIN", 120), 60),
    # Every join attempt with one code: a class (or a lecture hall), its reloads and late joiners.
    "join_code": (env_int("RATE_LIMIT_JOIN_CODE", 300), 60),
    # Wrong codes from one network in ten minutes: typos fit, guessing does not.
    "join_failed": (env_int("RATE_LIMIT_JOIN_FAILED", 30), 600),
    # Wrong codes from everyone in a minute. 31**6 codes: with 10,000 sessions open, guessers held
    # to 300 wrong codes a minute need about five hours for one hit on average.
    "join_failed_all": (env_int("RATE_LIMIT_JOIN_FAILED_ALL", 300), 60),
    "login": (env_int("RATE_LIMIT_LOGIN", 10), 60),
    # A whole school can sit behind one address, each page reporting every half minute or so.
    "browser_metrics": (env_int("RATE_LIMIT_BROWSER_METRICS", 600), 60),
    # Per student: a page asks for a fresh custom token about once an hour, or after a reload.
    "firebase_token": (env_int("RATE_LIMIT_FIREBASE_TOKEN", 10), 60),
}
# Per student token, in each web process (web/ratelimit.py Budgets): requests a second, and at once.
STUDENT_REQUESTS_PER_SECOND = env_float("STUDENT_REQUESTS_PER_SECOND", 10.0)
STUDENT_REQUEST_BURST = env_float("STUDENT_REQUEST_BURST", 40.0)
# How many X-Forwarded-For entries, from the right, our own proxies write; the client's address is
# the left-most of them. Google's external Application Load Balancer writes two (`<client>, <its own
# address>`), so deploy/base sets 2. 0: the socket's peer (as uvicorn reports it).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.server": {"level": "WARNING"}},
}

# Firebase (off unless FIREBASE_DATABASE_URLS is set); integrations/firebase.py is the only reader.
FIREBASE_DATABASE_URLS = env_list("FIREBASE_DATABASE_URLS")
FIREBASE_CREDENTIALS_FILE = env_str("FIREBASE_CREDENTIALS_FILE")
FIREBASE_DATABASE_EMULATOR_HOST = env_str("FIREBASE_DATABASE_EMULATOR_HOST")
FIREBASE_WEB_CONFIG = env_str("FIREBASE_WEB_CONFIG")
# "Firebase mode": students who got Firebase credentials use Firebase as their live link and open
# no WebSocket (but for the dark-launch share below). Off: WebSocket first, Firebase when the
# WebSocket cannot connect, HTTP polling last.
FIREBASE_FIRST = env_bool("FIREBASE_FIRST", False)
# How long an ended session's data stays in Firebase (late acknowledgements, a page still open)
# before the worker deletes it.
FIREBASE_RETENTION_HOURS = env_float("FIREBASE_RETENTION_HOURS", 24.0)

# How often one worker per pod counts open sessions for peardeck_open_sessions (one COUNT each time).
OPEN_SESSIONS_REFRESH_SECONDS = env_float("PEARDECK_OPEN_SESSIONS_REFRESH_SECONDS", 15.0)

# Share (0..1) of Firebase-mode clients that also try a WebSocket in the background.
WEBSOCKET_DARK_LAUNCH_SHARE = env_float("WEBSOCKET_DARK_LAUNCH_SHARE", 0.0)
