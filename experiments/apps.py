from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    verbose_name = "Experiments (v1 zone)"

    def ready(self):
        # The project detail (API and admin) shows judge-vs-human agreement; projects
        # offers the extension point so that the dependency stays experiments → projects.
        from experiments.selectors import judge_agreement
        from projects.selectors import register_detail_section

        register_detail_section("agreement", lambda project: judge_agreement(project=project))
