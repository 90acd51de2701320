"""Scale-out on a real three-node MariaDB Galera cluster (docs/deployment.md): `make test-galera`."""
