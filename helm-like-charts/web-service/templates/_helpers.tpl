{%- comment -%}
  Named blocks shared by the templates; render one with {{ "name" | include }}.
  Variables assigned here start with "_" so they do not clash with the templates' own.
{%- endcomment -%}

{% define "web-service.name" -%}
{{ values.nameOverride | default: chart.name | trunc: 63 | trimSuffix: "-" }}
{%- enddefine %}

{% define "web-service.fullname" -%}
{%- if values.fullnameOverride != "" -%}
{{ values.fullnameOverride | trunc: 63 | trimSuffix: "-" }}
{%- else -%}
{%- assign _name = values.nameOverride | default: chart.name -%}
{%- if release.name contains _name -%}
{{ release.name | trunc: 63 | trimSuffix: "-" }}
{%- else -%}
{{ release.name | append: "-" | append: _name | trunc: 63 | trimSuffix: "-" }}
{%- endif -%}
{%- endif -%}
{%- enddefine %}

{% define "web-service.selectorLabels" -%}
app.kubernetes.io/name: {{ "web-service.name" | include }}
app.kubernetes.io/instance: {{ release.name }}
{%- enddefine %}

{% define "web-service.labels" -%}
{{ "web-service.selectorLabels" | include }}
app.kubernetes.io/managed-by: capstan
app.kubernetes.io/version: {{ "web-service.tag" | include | trunc: 63 | quote }}
capstan.dev/chart: {{ chart.name }}-{{ chart.version }}
{%- enddefine %}

{% define "web-service.tag" -%}
{{ values.image.tag | default: chart.appVersion }}
{%- enddefine %}

{% define "web-service.image" -%}
{{ values.image.repository | required: "image.repository is required: the image to run, e.g. nginx" }}:{{ "web-service.tag" | include }}
{%- enddefine %}

{%- comment -%} Sorted NAME/value list for env: the same values always render the same. {%- endcomment -%}
{% define "web-service.envList" -%}
{%- assign _env = args | entries -%}
{%- for e in _env -%}
{%- unless forloop.first %}
{% endunless -%}
- name: {{ e.key | quote }}
  value: {{ e.value | toString | quote }}
{%- endfor -%}
{%- enddefine %}
