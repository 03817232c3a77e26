{%- comment -%}
  Named blocks shared by the templates; render one with {{ "name" | include }}.
  CronJob names stay within 52 characters: the controller appends a run suffix to them.
{%- endcomment -%}

{% define "cron-task.name" -%}
{{ values.nameOverride | default: chart.name | trunc: 52 | trimSuffix: "-" }}
{%- enddefine %}

{% define "cron-task.fullname" -%}
{%- if values.fullnameOverride != "" -%}
{{ values.fullnameOverride | trunc: 52 | trimSuffix: "-" }}
{%- else -%}
{%- assign _name = values.nameOverride | default: chart.name -%}
{%- if release.name contains _name -%}
{{ release.name | trunc: 52 | trimSuffix: "-" }}
{%- else -%}
{{ release.name | append: "-" | append: _name | trunc: 52 | trimSuffix: "-" }}
{%- endif -%}
{%- endif -%}
{%- enddefine %}

{% define "cron-task.selectorLabels" -%}
app.kubernetes.io/name: {{ "cron-task.name" | include }}
app.kubernetes.io/instance: {{ release.name }}
{%- enddefine %}

{% define "cron-task.labels" -%}
{{ "cron-task.selectorLabels" | include }}
app.kubernetes.io/managed-by: capstan
app.kubernetes.io/version: {{ values.image.tag | default: chart.appVersion | trunc: 63 | quote }}
capstan.dev/chart: {{ chart.name }}-{{ chart.version }}
{%- enddefine %}

{% define "cron-task.image" -%}
{{ values.image.repository | required: "image.repository is required: the image to run, e.g. busybox" }}:{{ values.image.tag | default: chart.appVersion }}
{%- enddefine %}

{%- comment -%} A mapping as sorted `"key": "value"` lines (labels, annotations, env). {%- endcomment -%}
{% define "cron-task.stringMap" -%}
{%- assign _pairs = args | entries -%}
{%- for p in _pairs -%}
{%- unless forloop.first %}
{% endunless -%}
{{ p.key | quote }}: {{ p.value | toString | quote }}
{%- endfor -%}
{%- enddefine %}
