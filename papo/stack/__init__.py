"""The embedded stack: PostgreSQL, Redis and a MongoDB wire-protocol server run from pip packages.

`papo up` (and the test suite) start them as child processes in the data directory, on free ports of
127.0.0.1, when their URLs are unset; `stack.json` tells other papo commands where they are.
Layout: papo.lock, stack.json, pg/ (data, run), redis/, mongo/, logs/<server>.log.
"""

from papo.stack.core import Stack
from papo.stack.state import StackAlreadyRunning, StackError, StackInfo, read_running_stack

__all__ = ["Stack", "StackAlreadyRunning", "StackError", "StackInfo", "read_running_stack"]
