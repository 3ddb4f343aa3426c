"""Environment every test process needs before any test module imports the handler.

Powertools names a module's logger (`<service>.<module>`) when the module is imported, as Lambda does
after setting the function's environment; a test module imported earlier (the CLI's, say) must not leave
the handler's loggers outside the service's logger tree.  tests/handler/harness.py sets the same defaults
for scripts that import it outside pytest (the benchmarks).
"""

from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "domain-join")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DomainJoinTest")
