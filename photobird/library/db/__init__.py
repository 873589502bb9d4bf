"""The only code that knows which database engine holds the catalogue.

The catalogue is the library folder's SQLite file (one person, one computer: the default), or a database on a
PostgreSQL server shared by several computers (``--database`` / ``PHOTOBIRD_DATABASE``). Everything else in the
library speaks SQLAlchemy Core/ORM in a way both engines understand; what cannot be said that way lives here:

- ``engines``: which engine a library uses, its URL, opening it, a read snapshot;
- ``sqlite``: the SQLite file's URL and pragmas, and how SQLite says a file is damaged or its disk full;
- ``postgres``: opening a server, one sentence when it cannot be reached, the migration lock;
- ``upsert``: insert-or-update, which SQL spells differently on each engine;
- ``changes``: noticing that another process or computer committed;
- ``spelling``: the few words of search's hand-written SQL that the engines spell differently;
- ``size``: how much room the catalogue takes (its file, or its database on the server);
- ``claims``: which photos this indexer works on when several share a catalogue (``FOR UPDATE SKIP LOCKED``);
- ``locks``: what one process at a time does on a shared catalogue (scanning, new words, grouping, watching).
"""
