"""Test-wide setup: BLAS on one thread, as the app runs it (see app.py)."""

from threadpoolctl import threadpool_limits

threadpool_limits(1, user_api="blas")
