"""GA4GH Workflow Execution Service 1.1 at /api/ga4gh/wes/v1, beside the Cromwell API.

A django-ninja API of its own (api.py): the same API tokens, tenancy, limits and budgets as the
Cromwell API, through the same selectors and submission services. Shapes follow
ga4gh/workflow-execution-service-schemas, tag 1.1.0 (openapi/workflow_execution_service.openapi.yaml).
"""
