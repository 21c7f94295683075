from django import forms

WDL_HELP = "A WDL 1.0 or 1.1 document (.wdl)."
IMPORTS_HELP = "Optional: a zip of the files the WDL imports, as Cromwell's workflowDependencies."


class VersionUploadForm(forms.Form):
    source = forms.FileField(label="WDL file", help_text=WDL_HELP)
    imports = forms.FileField(label="Imports zip", required=False, help_text=IMPORTS_HELP)

    def read(self) -> tuple[bytes, str, bytes | None]:
        """Return the uploaded source bytes, its file name and the imports zip bytes."""
        source = self.cleaned_data["source"]
        imports = self.cleaned_data.get("imports")
        return source.read(), source.name, (imports.read() if imports else None)


class WorkflowCreateForm(VersionUploadForm):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    field_order = ["name", "description", "source", "imports"]
