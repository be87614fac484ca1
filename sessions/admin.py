from django.contrib import admin

from sessions.models import Deck, Question, Session, Student


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0
    fields = ("position", "kind", "prompt")


@admin.register(Deck)
class DeckAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "archived", "updated_at")
    list_filter = ("archived",)
    search_fields = ("title", "owner__username")
    inlines = [QuestionInline]


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("join_code", "deck", "teacher", "state", "pacing", "seq", "created_at")
    list_filter = ("state", "pacing")
    search_fields = ("join_code", "teacher__username")
    readonly_fields = ("projector_key_hash", "seq")


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    list_display = ("display_name", "session", "joined_at", "removed_at")
    search_fields = ("display_name", "session__join_code")
    readonly_fields = ("token_hash",)
