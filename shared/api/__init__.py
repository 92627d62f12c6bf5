"""The API's conventions, on every route: who is calling, the error envelope, the schema and
its docs, pagination, partial updates, container providers as dependencies."""
