"""A Cromwell-compatible REST API (/api/workflows/v1, /api/womtool/v1, /engine/v1), scoped to the caller's teams.

Paths, status codes and JSON shapes follow Cromwell's own routes (CromwellApiService,
MetadataRouteSupport, WomtoolRouteSupport) so cromshell and cromwell-tools work unchanged.
"""

# What /engine/v1/version reports as the server version (Cromwell clients only print it).
SERVER_VERSION = "batchsite-1"
