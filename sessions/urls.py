from django.urls import path

from sessions import views

urlpatterns = [
    path("", views.join_page, name="join"),
    path("s/", views.student_page, name="student"),
    path("teach/", views.decks_page, name="decks"),
    path("teach/decks/<int:deck_id>/", views.deck_page, name="deck"),
    path("teach/sessions/<int:session_id>/", views.dashboard_page, name="dashboard"),
    path("projector/<str:join_code>/", views.projector_page, name="projector"),
    path("join-qr/<str:join_code>.svg", views.join_qr, name="join_qr"),
]
