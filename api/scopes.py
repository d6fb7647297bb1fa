"""What a credential may do. Kept apart from lingtan.api.auth (SQLAlchemy, Argon2) so that the
command line can offer the scopes without the platform's libraries installed."""

from enum import StrEnum


class Scope(StrEnum):
    READ = "read"  # every GET on the parks of the credential
    WRITE = "write"  # enter activity data
    ADMIN = "admin"  # dead letters and the audit of every change; implies read and write
