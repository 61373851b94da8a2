"""The command layer: every door (CLI, API, console, demo) runs a business operation as one
invocation by one principal: permission checked, one audit event, refusals and failures
recorded too (`invocation.py`)."""
