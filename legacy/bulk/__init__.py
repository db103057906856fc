"""Set-based bulk writes of the legacy import (SPEC §9), one module per domain: the
rules of each domain's services applied to many rows at once, with one result per
row. Only legacy.kinds calls them."""
