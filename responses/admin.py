from django.contrib import admin

from responses.models import Response, Submission


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ("student", "question", "source", "version", "is_correct", "updated_at")
    list_filter = ("source",)
    search_fields = ("student__display_name", "session__join_code")


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("submission_id", "student", "question", "source", "received_at")
    list_filter = ("source",)
