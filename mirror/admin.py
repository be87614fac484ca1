from django.contrib import admin

from mirror.models import OutboxEntry


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    list_display = ("id", "session_id", "seq", "created_at")
    search_fields = ("session_id",)
