"""UserRow mirrors the users table by hand (it is what the fast path reads the caller into,
and what `account_of` turns back into a `User`): a column added to one must be added to the
other, or the caller would silently lose it."""

from modules.users.models import User, UserRow


def test_the_row_the_authenticator_reads_has_every_column_of_the_users_table() -> None:
    columns = {column.key for column in User.__table__.columns}  # type: ignore[attr-defined]
    assert set(UserRow.model_fields) == columns
