from django import template

register = template.Library()


@register.filter
def percent(value) -> str:
    return f"{float(value) * 100:.1f} %"
