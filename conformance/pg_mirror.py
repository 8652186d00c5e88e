"""A read-only SQLite copy of an operator's PostgreSQL store.

The suite's independent checks read the store (salts, keys, opt-outs) with SQL. For an operator on
PostgreSQL this keeps them unchanged: `sync()` copies the database into a SQLite file with the same
tables and columns, again whenever the store's version or opt-out count moved (salt buckets only
when the salt version moved).
"""

import sqlite3
import subprocess
import urllib.parse
from contextlib import closing
from pathlib import Path

TABLES = ["sites", "clients", "keysets", "keyset_keys", "salt_metadata", "salt_buckets", "client_side_keypairs",
          "optouts", "store_version", "runtime_config"]
SQLITE_TYPES = {"integer": "INTEGER", "bigint": "INTEGER", "smallint": "INTEGER", "boolean": "INTEGER",
                "bytea": "BLOB", "double precision": "REAL"}


# The suite's operators on PostgreSQL run with a pool of one connection, the least a node can be
# given: a node that ever waited for a second connection while holding one would hang here.
POOL_MAX_CONNECTIONS = 1


def database_url(server_url: str, database: str) -> str:
    """The operator's store URL for `database` on the server of `server_url`, with the suite's pool size."""
    parts = urllib.parse.urlsplit(server_url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + [("pool_max_connections", str(POOL_MAX_CONNECTIONS))]
    return urllib.parse.urlunsplit(parts._replace(path="/" + database, query=urllib.parse.urlencode(query)))


def libpq_url(url: str) -> str:
    """The operator's store URL without the parameters only the operator knows (psql refuses them)."""
    parts = urllib.parse.urlsplit(url)
    kept = [(name, value) for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if name != "pool_max_connections"]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept)))


def psql(url: str, sql: str) -> str:
    done = subprocess.run(["psql", libpq_url(url), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout


def _unescape(field: str):
    """COPY text format: \\N is NULL, backslash escapes otherwise."""
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            n = field[i + 1]
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(n, n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class PostgresMirror:
    def __init__(self, url: str, path: Path):
        self.url, self.path = url, Path(path)
        self.marker = None
        self.salt_version = None

    def _columns(self, table: str) -> list:
        rows = psql(self.url, "SELECT column_name, data_type FROM information_schema.columns "
                              f"WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position")
        return [tuple(line.split("|", 1)) for line in rows.splitlines() if line]

    def sync(self) -> Path:
        state = psql(self.url, "SELECT (SELECT string_agg(id || ':' || version, ',' ORDER BY id) FROM store_version) "
                               "|| '/' || (SELECT COUNT(*) FROM optouts)").strip()
        if state == self.marker and self.path.exists():
            return self.path
        salt_version = state.split("/")[0]
        keep_salts = self.path.exists() and salt_version.split(",")[-1] == (self.salt_version or "").split(",")[-1]
        tmp = self.path.with_suffix(".tmp")
        if tmp.exists():
            tmp.unlink()
        with closing(sqlite3.connect(tmp)) as db:
            if keep_salts:
                db.execute("ATTACH DATABASE ? AS old", (str(self.path),))
            for table in TABLES:
                columns = self._columns(table)
                if not columns:
                    continue
                names = [c for c, _ in columns]
                db.execute(f"CREATE TABLE {table} (" + ", ".join(
                    f"{c} {SQLITE_TYPES.get(t, 'TEXT')}" for c, t in columns) + ")")
                if table == "salt_buckets" and keep_salts:
                    db.execute(f"INSERT INTO salt_buckets SELECT * FROM old.salt_buckets")
                    continue
                blobs = [t == "bytea" for _, t in columns]
                data = psql(self.url, f"COPY (SELECT {', '.join(names)} FROM {table}) TO STDOUT")
                rows = []
                for line in data.split("\n"):
                    if not line:
                        continue
                    fields = [_unescape(f) for f in line.split("\t")]
                    rows.append([bytes.fromhex(v[2:]) if blob and v is not None else v for v, blob in zip(fields, blobs)])
                db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})", rows)
            db.commit()
            if keep_salts:
                db.execute("DETACH DATABASE old")
        tmp.replace(self.path)
        self.marker, self.salt_version = state, salt_version
        return self.path
