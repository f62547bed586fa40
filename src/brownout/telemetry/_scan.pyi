from typing import Any

def scan(data: Any, val: Any, ts: Any, h1: Any, h2: Any, koff: Any, klen: Any, line: Any,
         status: Any) -> tuple[int, int, int]: ...
