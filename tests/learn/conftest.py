"""Training reads and writes a library's catalogue: its tests run on SQLite and on PostgreSQL, with the library
tests' engines and libraries (``tests/library/conftest.py``)."""

from tests.library.conftest import library, module_libraries, new_library, pytest_generate_tests

__all__ = ["library", "module_libraries", "new_library", "pytest_generate_tests"]
