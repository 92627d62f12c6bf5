"""Background work on PgQueuer: jobs and events written in the request's transaction, the
worker that runs them, schedules for housekeeping."""
