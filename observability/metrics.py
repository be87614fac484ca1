"""Every custom metric peardeck exports, declared once. deploy/monitoring/metrics.yml is the
contract the alert rules and dashboards are written against; tests/observability/test_metrics.py holds this
module to it.

Label values are always from small fixed sets (transport, kind, role, outcome, reason, app,
location): never a session, student or user id. Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes
each worker write its values to files that the metrics endpoint sums; gauges say how.
"""

from prometheus_client import Counter, Gauge, Histogram

# Answer handling is a few milliseconds when healthy; the alert thresholds sit on 0.25 s and 1 s.
_ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BROWSER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
_FIREBASE_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# --- web pods ---------------------------------------------------------------------------------

ANSWERS = Counter(
    "peardeck_answers", "Answers accepted and stored, by transport and question kind.", ["transport", "kind"]
)
ANSWER_DURATION = Histogram(
    "peardeck_answer_duration_seconds",
    "Time from receiving an answer to having stored it.",
    ["transport"],
    buckets=_ANSWER_BUCKETS,
)
ANSWER_BATCH_ROWS = Counter(
    "peardeck_answer_batch_rows",
    "Answers the answer writers took into their batches (responses/intake.py); divided by the "
    "batches (peardeck_answer_batch_seconds_count), the mean batch.",
)
ANSWER_BATCH_SECONDS = Histogram(
    "peardeck_answer_batch_seconds",
    "Time an answer batch took, from its first statement to its commit.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
WEBSOCKET_CONNECTIONS = Gauge(
    "peardeck_websocket_connections",
    "Open WebSocket connections by role.",
    ["role"],
    multiprocess_mode="livesum",
)
WEBSOCKET_CONNECTS = Counter(
    "peardeck_websocket_connects", "WebSocket connection attempts by role and outcome.", ["role", "outcome"]
)
BROADCAST_DELAY = Histogram(
    "peardeck_broadcast_delay_seconds",
    "Time from a teacher's action to the broadcast being sent.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
OPEN_SESSIONS = Gauge(
    "peardeck_open_sessions", "Sessions that are waiting or live.", multiprocess_mode="livemax"
)
JOIN_ATTEMPTS = Counter(
    "peardeck_join_attempts", "Attempts to join a session with a join code, by outcome.", ["outcome"]
)
TEACHER_SIGN_INS = Counter(
    "peardeck_teacher_sign_ins",
    "Teachers' sign-ins by provider (google, microsoft, password) and outcome (observability/signins.py).",
    ["provider", "outcome"],
)
RATE_LIMITED = Counter("peardeck_rate_limited", "Requests refused by a rate limit, by scope.", ["scope"])
# transport: http, websocket; reason: too_large, too_deep, not_finite, malformed, rate_limited.
MESSAGES_REFUSED = Counter(
    "peardeck_messages_refused",
    "Client requests or socket messages refused before any service read them, by transport and reason.",
    ["transport", "reason"],
)
BUILD_INFO = Gauge(
    "peardeck_build_info",
    "Always 1; its labels name the running version and commit.",
    ["version", "commit"],
    multiprocess_mode="livemax",
)

# --- browser metrics, aggregated by the web pods --------------------------------------------------

BROWSER_APP_LOADS = Counter(
    "peardeck_browser_app_loads", "App loads reported by browsers.", ["app", "outcome"]
)
BROWSER_TIME_TO_INTERACTIVE = Histogram(
    "peardeck_browser_time_to_interactive_seconds",
    "Time to interactive as measured in the browser.",
    ["app"],
    buckets=_BROWSER_BUCKETS,
)
BROWSER_CLIENT_ERRORS = Counter(
    "peardeck_browser_client_errors", "Client-side errors reported by browsers.", ["app", "kind"]
)
BROWSER_FIREBASE_RESPONSE = Histogram(
    "peardeck_browser_firebase_response_seconds",
    "Firebase response time as the user sees it.",
    ["app"],
    buckets=_FIREBASE_BUCKETS,
)
BROWSER_WEBSOCKET_DARKLAUNCH = Counter(
    "peardeck_browser_websocket_darklaunch",
    "Outcome of background WebSocket tries by Firebase-mode clients.",
    ["outcome"],
)
BROWSER_TRANSPORT_CONNECTS = Counter(
    "peardeck_browser_transport_connects",
    "Outcome of each attempt by a page to bring up its live link, by app and transport.",
    ["app", "transport", "outcome", "firebase_transport"],
)
BROWSER_METRICS_REJECTED = Counter(
    "peardeck_browser_metrics_rejected",
    "Browser metric reports or values refused by the aggregator.",
    ["reason"],
)

# --- Firebase worker ----------------------------------------------------------------------------

FIREBASE_MIRROR_LAG = Gauge(
    "peardeck_firebase_mirror_lag_seconds",
    "Age of the oldest outbox entry not yet relayed to Firebase; 0 when the outbox is empty.",
    multiprocess_mode="livemax",
)
OUTBOX_BACKLOG = Gauge(
    "peardeck_outbox_backlog", "Outbox entries not yet relayed to Firebase.", multiprocess_mode="livemax"
)
FIREBASE_ERRORS = Counter(
    "peardeck_firebase_errors", "Firebase operations that failed.", ["operation", "reason"]
)

# --- Firebase probe -----------------------------------------------------------------------------

FIREBASE_PROBE_DURATION = Histogram(
    "peardeck_firebase_probe_duration_seconds",
    "Duration of the probe's write and read of its probe path.",
    ["location", "operation"],
    buckets=_FIREBASE_BUCKETS,
)
FIREBASE_PROBE_ATTEMPTS = Counter("peardeck_firebase_probe_attempts", "Probe rounds started.", ["location"])
FIREBASE_PROBE_FAILURES = Counter(
    "peardeck_firebase_probe_failures", "Probe rounds that failed.", ["location", "reason"]
)
