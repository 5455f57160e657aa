"""The application under test: users, a mailer and the jobs of the Rails guides' examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from activejob_celery import (
    ApplicationJob,
    DeserializationError,
    GlobalID,
    discard_on,
    queue_as,
)
from activejob_celery.integrations.smtp import SmtpDeliveryErrorHandling


class RecordNotFound(LookupError):
    """Rails' ActiveRecord::RecordNotFound."""


@dataclass(eq=False)
class User:
    id: int
    name: str
    email: str
    notifications: list[str] = field(default_factory=list)
    processed: bool = False

    def to_global_id(self) -> GlobalID:
        return GlobalID("shop", "User", self.id)

    def __eq__(self, other: object) -> bool:  # a record equals the same row, as in Active Record
        return isinstance(other, User) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("User", self.id))

    def __repr__(self) -> str:
        return f"<User id={self.id} {self.name!r}>"


class Users:
    """The users table, in memory."""

    rows: ClassVar[dict[int, User]] = {}

    @classmethod
    def create(cls, name: str, email: str) -> User:
        user = User(id=len(cls.rows) + 1, name=name, email=email)
        cls.rows[user.id] = user
        return user

    @classmethod
    def find(cls, user_id: int) -> User:
        try:
            return cls.rows[user_id]
        except KeyError:
            raise RecordNotFound(f"Couldn't find User with 'id'={user_id}") from None

    @classmethod
    def locate(cls, gid: GlobalID) -> User | None:
        return cls.rows.get(int(gid.model_id))


@dataclass
class Mail:
    to: list[str]
    subject: str
    body: str

    def deliver_now(self) -> None:
        deliveries.append(self)


deliveries: list[Mail] = []
"""Rails' ActionMailer::Base.deliveries."""


class UserMailer:
    @staticmethod
    def welcome(user: User) -> Mail:
        return Mail(to=[user.email], subject="Welcome!", body=f"Hello {user.name}")


class NotificationJob(ApplicationJob):
    queue_as("default")

    def perform(self, user: User, message: str) -> None:
        user.notifications.append(message)


class WelcomeEmailJob(SmtpDeliveryErrorHandling, ApplicationJob):
    def perform(self, user: User) -> None:
        UserMailer.welcome(user).deliver_now()


class ProcessUserJob(ApplicationJob):
    discard_on(RecordNotFound)
    discard_on(DeserializationError)

    def perform(self, user_id: int) -> None:
        Users.find(user_id).processed = True


def register_user(**attributes: Any) -> User:
    """What ``post users_path`` does in the guides: create the user, send the welcome mail later."""
    user = Users.create(**attributes)
    WelcomeEmailJob.perform_later(user)
    return user
