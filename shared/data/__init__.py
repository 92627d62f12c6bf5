"""Data access: the engine, request sessions and the unit of work, reads on a replica,
database provisioning, Redis."""
