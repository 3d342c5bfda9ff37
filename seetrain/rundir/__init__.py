"""Everything that knows the run directory's format (docs/record-format.md).

``files`` (lock, atomic run.json, the record file, torn-tail repair), ``safe_open`` (no symlink is
followed), ``records`` (the record types and their JSON encoding), ``queue`` / ``writer`` /
``media_writer`` (the bounded queue and the writer threads), ``stream`` (incremental reading from a
byte offset), ``reader`` / ``columns`` (whole-run reading into compact columns).

Importing the package loads none of them: import the module you need.
"""
