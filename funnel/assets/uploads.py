"""Stop an asset upload as soon as it passes ``ASSETS_MAX_BYTES`` (docs/assets.md, "File
safety").

Django hands each chunk of an uploaded file to its upload handlers in turn; the memory and
temporary-file handlers keep it. :class:`AssetUploadLimit` comes first
(``FILE_UPLOAD_HANDLERS``) and, on the asset pages and API only, counts the bytes of each
file: past the limit it passes no more chunks on, so the temporary file stops growing at the
limit instead of holding the whole upload, and the file the view gets is an empty
:class:`OversizedUpload` carrying the size that was sent. The services' check
(``funnel.assets.files.check_upload``) then refuses it by that size, naming the limit, and
nothing is stored. The rest of the request body is read and thrown away (the answer needs the
other fields); a proxy's body cap (docs/assets.md) stops a huge request earlier still.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

#: The paths whose uploads are asset files: the library's pages and the asset API.
ASSET_PATHS = ("/assets/", "/api/assets/", "/api/asset-versions/", "/api/asset-reviews/")


class OversizedUpload(UploadedFile):
    """A file refused for its size: no content, ``size`` as sent."""

    def __init__(self, name: str, size: int, content_type: str | None) -> None:
        super().__init__(io.BytesIO(b""), name, content_type, size)


class AssetUploadLimit(FileUploadHandler):
    def __init__(self, request=None) -> None:
        super().__init__(request)
        path = getattr(request, "path_info", "") or ""
        self.active = path.startswith(ASSET_PATHS)
        self.limit = settings.ASSETS_MAX_BYTES
        self.over = False

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.over = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if not self.active:
            return raw_data
        if self.over or start + len(raw_data) > self.limit:
            self.over = True
            return None  # the handlers after this one get nothing more of this file
        return raw_data

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if not (self.active and self.over):
            return None
        return OversizedUpload(self.file_name, file_size, self.content_type)
