from django.contrib import admin

from project.demo.models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "customer_name", "amount", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("number", "customer_email")
