from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "ucis.demo"
    label = "demo"
    verbose_name = "Demo"
