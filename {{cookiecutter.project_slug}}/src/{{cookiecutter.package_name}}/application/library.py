"""Use cases of the example feature that are more than one repository call. They take ports,
never adapters.

Plain create/read/update/delete needs no use case: the routes derived from the registrations
(``adapters/http/resources.py``) call the repositories, which build every entity through its
constructor and enforce the references declared in ``features/library.py`` atomically
(``ReferenceNotFound``, ``StillReferenced``), so nothing here checks first and then acts.
Several writes that must happen together run in one unit of work.
"""

from __future__ import annotations

from ..domain.errors import DomainConflict, DomainError
from ..domain.library import Author, Book
from ..ports.query import Query
from ..ports.unit_of_work import UnitOfWorkFactory

# One unit of work holds at most 100 writes on DynamoDB (each moved book is one, its author's
# reference count another); a bigger merge is refused rather than half done.
MAX_BOOKS_PER_MERGE = 40


class LibraryService:
    def __init__(self, unit_of_work: UnitOfWorkFactory) -> None:
        self.unit_of_work = unit_of_work

    async def merge_authors(self, source_id: str, target_id: str) -> Author:
        """Move every book of ``source_id`` to ``target_id``, then delete ``source_id``: all of
        it or, on any failure (a book changed meanwhile, the target deleted...), none of it."""
        if source_id == target_id:
            raise DomainError("an author cannot be merged into itself")
        async with self.unit_of_work() as uow:
            authors, books = uow.of(Author), uow.of(Book)
            target = await authors.get_or_raise(target_id)
            await authors.get_or_raise(source_id)
            moved = await books.find(
                Query(filter={"author_id": source_id}, limit=MAX_BOOKS_PER_MERGE)
            )
            if moved.has_more:
                raise DomainConflict(
                    f"an author with more than {MAX_BOOKS_PER_MERGE} books is merged in steps"
                )
            for book in moved.items:
                await books.update_fields(
                    book.id, {"author_id": target_id}, expected_version=book.version
                )
            await authors.delete(source_id)
        return target
