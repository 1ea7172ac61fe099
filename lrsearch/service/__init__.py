"""The torch-free application layer the CLI and the HTTP API share.

Every function takes a :class:`Backend` (the storage, built once from Settings by the caller)
and raises lrsearch's own errors, which the CLI turns into one line and exit code 2 and the API
into a JSON 4xx:

- creating: :func:`create_search` (one path for ``lrsearch search``/``submit`` and
  ``POST /v1/studies``), under a :class:`SubmitPolicy` (local user, or HTTP client with the
  server's allowed modules and data roots);
- reading and ending: :func:`list_studies`, :func:`get_study`, :func:`study_status`,
  :func:`stop_study`, :func:`delete_study`, :func:`best_config`, :func:`best_pytorch`;
- more trials for a study: :func:`extend_study`, :func:`retry_failed`;
- the service itself: :func:`readiness` (schema and live agents), :func:`list_agents`;
- the LR range test: :func:`lr_range_view` (its ranges, cost and curves);
- trials: :func:`trial_page`, :func:`trial_detail`, :func:`trial_curves`;
- the report: :func:`report_page` (data gathered here, rendered by lrsearch.report);
- optuna-dashboard's notes: :mod:`lrsearch.service.notes`.
"""

from lrsearch.service.agents import Readiness, list_agents, readiness
from lrsearch.service.backend import Backend
from lrsearch.service.budget import Retried, extend_study, retry_failed
from lrsearch.service.create import create_search, trial_budget
from lrsearch.service.export import best_config, best_pytorch, best_summary_line
from lrsearch.service.lr_range import lr_range_view, range_line
from lrsearch.service.policy import SubmitPolicy, TaskProbe, inside_data_roots
from lrsearch.service.report_data import ReportRenderer, report_page
from lrsearch.service.status import StudyStatus, study_status
from lrsearch.service.studies import delete_study, get_study, list_studies, stop_study
from lrsearch.service.trials import TrialCurve, trial_curves, trial_detail, trial_page
from lrsearch.store import Search, SearchSummary

__all__ = [
    "Backend",
    "Readiness",
    "ReportRenderer",
    "Retried",
    "Search",
    "SearchSummary",
    "StudyStatus",
    "SubmitPolicy",
    "TaskProbe",
    "TrialCurve",
    "best_config",
    "best_pytorch",
    "best_summary_line",
    "create_search",
    "delete_study",
    "extend_study",
    "get_study",
    "inside_data_roots",
    "list_agents",
    "list_studies",
    "lr_range_view",
    "range_line",
    "readiness",
    "report_page",
    "retry_failed",
    "stop_study",
    "study_status",
    "trial_budget",
    "trial_curves",
    "trial_detail",
    "trial_page",
]
