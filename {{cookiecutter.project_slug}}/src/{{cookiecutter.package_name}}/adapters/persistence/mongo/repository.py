"""A repository over one MongoDB collection.

``MongoRepository`` puts together the modules that hold the code: :mod:`.base` (documents,
expired documents, write guards, transactions), :mod:`.reads`, :mod:`.writes`,
:mod:`.references` (the counters and marks described below) and :mod:`.deletes` (``delete``,
``delete_many`` and the ``on_delete`` rules).

- The entity id is the document's ``_id``; values go through :mod:`.codec` both ways.
- **Every write goes through the domain**: ``add``, ``add_many``, ``upsert`` and ``update``
  store ``through_domain(entity)``; ``update_fields`` reads the document, builds the merged
  entity with ``apply_changes`` (validation and normalisation included) and writes the whole
  new record in one ``update_one`` guarded by the version it read (and by the reference fields
  it read, since ``set_null`` does not bump versions; an entity without a version field is
  guarded by every value it read). When someone else wrote in between and the caller gave no
  ``expected_version``, it reads again and retries (5 attempts). Writes ``$set`` the entity's
  fields (never replace the document), so the hidden fields below survive.
- Uniqueness (single fields and ``unique_together``) is the partial unique indexes' job: a
  duplicate is refused by the server and becomes ``AlreadyExists`` naming the constraint
  (``sku``, or ``member_id+task_id`` with the tuple of values), so concurrent creates cannot
  race.
- Expired documents (``ttl_field``) are filtered out of every read until MongoDB's TTL monitor
  removes them, and never block a new document with the same id or unique value. The monitor
  (and that clean-up) remove them without applying ``on_delete`` rules: an entity with a
  ``ttl_field`` should not be the target of an enforced relation.

Referential integrity (relations with ``on_delete``)
----------------------------------------------------

Each target document counts the children pointing at it, per relation, in a hidden field
``_refs.<child entity>:<field>`` (``<child entity>`` and ``<field>`` with ``%``, ``.`` and ``$``
percent-encoded). Entities never see it (the codec ignores unknown keys), filters, sorts and
``distinct`` only ever name entity fields, and writes ``$set`` fields so it is kept.

- Storing a child that points at a target (add, add_many, upsert, or an update that re-points
  it) first raises the target's counter with a conditional ``$inc`` that only matches a live
  target not being deleted: no match is ``ReferenceNotFound`` and nothing is written. The
  child is written next; the counter of the target it stopped pointing at is lowered last.
  Deleting a child lowers its targets' counters after the delete.
- ``restrict``: the target is deleted by one ``find_one_and_delete`` whose filter requires its
  counters to be zero or absent: ``StillReferenced`` otherwise, atomically with the delete.
- ``cascade`` / ``set_null``: the target is first *marked* (hidden ``_deleting: true``, in the
  same atomic write that checks its ``restrict`` counters), which makes every new reference to
  it fail; then its children are deleted (recursively, by their own rules, marked first) or
  their field is set to null (without a version bump, like PostgreSQL's ``ON DELETE SET
  NULL``), lowering its counters; then it is deleted with the counters-are-zero filter. Should
  a counter still be positive (a child written without a transaction, between its two
  steps), the whole delete is tried again for up to 2 seconds, then ``StillReferenced``.

With transactions (a replica set or a sharded cluster, or ``transactions=True``): every write
that changes a counter together with a document (a child's write and its ``$inc``, a child's
delete and its release, a whole cascading delete, ``add_many``) runs in one session
transaction, started again when a concurrent write conflicts with it; so counters are exact and
everything is all or nothing. Inside a unit of work (:meth:`MongoBackend.transaction`) the
unit's transaction is used instead, and ``StillReferenced`` is raised at once rather than
waiting.

Without transactions (a standalone server) the steps run one after the other, in the order
above, so that no concurrent interleaving can leave a child pointing at a deleted target. What
a crash (or a lost connection) between two steps leaves behind:

- between raising a target's counter and writing the child, or between deleting or
  re-pointing a child and lowering the counter: the counter is one too high. Never an orphan,
  but that target cannot be deleted (``StillReferenced``) until the counter is corrected:
  :meth:`MongoBackend.recount_references` recounts every counter (also the way to enforce
  references on documents written before they were declared);
- in the middle of a cascading delete: the target (and children not yet deleted) stay marked:
  they are still read and updated as usual, refuse new children, and the next delete of the
  target finishes the job. Children already deleted or set to null stay so. No child is ever
  left pointing at a deleted target;
- ``add_many`` inserts in order and deletes what it inserted when a document is refused; a
  crash in between leaves the first documents written (their counters raised).

Round trips (``r``: references that hold a value; ``m``: references a write moves to another
target; ``(+1)``: the commit, when the write runs in a transaction of its own)
------------------------------------------------------------------------------------------

- ``get``, ``get_many``, ``find``, ``count``, ``exists``, ``distinct``: 1.
- ``add``: 1 without references; ``r + 1`` (+1) with.
- ``add_many``: 1 ``insert`` (PyMongo splits only past 100,000 documents or 48 MB) plus the
  counters: in a transaction one ``update`` per target collection (+1 the commit), without
  one ``t``, the distinct targets of the batch (each must be known to be counted before the
  next, so that a missing one gives back exactly what was counted). In a transaction every
  write also releases counters with one ``update`` per target collection.
- ``update_fields``: 2 (read, guarded write); ``2 + 2m`` (+1) when references move. A retry
  after a concurrent write repeats them.
- ``update``: 1 for an entity without references (the version guard is in the filter); like
  ``update_fields`` otherwise.
- ``upsert``: 1 (2 with a ``ttl_field``); ``1 + r + r'`` (+1) with references, ``r'`` those
  of the document it replaced.
- ``delete``: 1; ``1 + r`` (+1) for a child; StillReferenced costs one more read.
- ``delete`` of a target with ``cascade``/``set_null`` relations: 1 to mark it, per cascading
  relation and level 1 to find the children (and 1 to mark them, if they are targets too), 2
  per ``set_null`` relation and target, then per batch deleted 1 or 2 (find, delete; without
  transactions, documents holding references are deleted one by one) plus its releases (+1);
  without transactions, 1 per marked batch to clear marks. ``test_mongo_specifics`` pins the
  usual counts.
- ``delete_many``: 1 for an entity without enforced relations; otherwise like a cascading
  delete of the whole batch.
- A refused write (missing, stale version, false condition) reads once more to say why.
"""

from __future__ import annotations

from typing import TypeVar

from .deletes import MongoDeletes
from .reads import MongoReads
from .writes import MongoWrites

T = TypeVar("T")


class MongoRepository(MongoDeletes[T], MongoWrites[T], MongoReads[T]):
    """The ``Repository`` port over one collection (the mixins hold the code)."""
