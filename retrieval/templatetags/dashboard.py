from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(value) -> str:
    # One decimal, in the active language's way: "2.5 %", German "2,5 %".
    return f"{number_format(float(value) * 100, 1)} %"
