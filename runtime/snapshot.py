"""One consistent read made of several queries.

A document or a tally shows answers together with the `answers_seq` they are at, and the session
part together with its `seq`; read in separate statements under READ COMMITTED, a change could
commit between them and the versions would not describe what is shown. Inside `snapshot()` every
query sees the database as it was at the first one: REPEATABLE READ on PostgreSQL (read-only
here, so it never fails to serialize); a SQLite transaction is one snapshot anyway.
"""

from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def snapshot():
    if connection.in_atomic_block:
        # Already in a transaction (a service, a test): its snapshot is the one we get.
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield
