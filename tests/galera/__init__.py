"""Scale-out on a real three-node MariaDB Galera cluster (SPEC §11): `make test-galera`."""
