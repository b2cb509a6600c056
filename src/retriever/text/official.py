"""The furniture of Chinese official documents (公文): the lines that frame what a
document says and are none of it. Titles skip the masthead and number; summaries never
quote the addressees, the 版记 or the header fields of minutes; keywords come from none
of them (a document number gave 政办发, an attendee line the names of those present).
"""

from __future__ import annotations

import re

# A document's number: 「青政发〔2024〕8号」, 「国办发[2023]12号」.
DOCUMENT_NUMBER = re.compile(r"[^，,。；;：:！？!?\s（(]{1,20}[〔\[［【(（]\d{4}[〕\]］】)）]\s*\d{1,4}\s*号")
# Its masthead (「青州市人民政府文件」) and number, each on a line of its own, before the title.
MASTHEAD = re.compile(rf"^[^，,。；;：:！？!?]{{2,30}}文件$|^{DOCUMENT_NUMBER.pattern}$")
# Its addressees (主送机关) on a line of their own: 「各区县人民政府：」, 「各省、自治区、直辖市人民
# 政府，国务院各部委、各直属机构：」, 「各县（市、区）：」: bodies named after 各, no sentence
# (「各地要做好以下工作：」 ends with no body and is one); its 版记, the bodies it is copied to
# (「抄送：市委各部门，市人大常委会办公室。」); the header fields of minutes (「列席：县财政局、县
# 发改局主要负责同志」).
ADDRESSEES = re.compile(
    r"^各[^。！？!?：:]{0,60}(?:政府|部门|单位|机构|机关|委员会|部委|厅|局|办公室|党委|党组|党工委|中心|学校|幼儿园"
    r"|医院|卫生院|街道|社区|公司|企业|[)）])[：:]$"
    r"|^(?:抄送|抄报|印发|分送|(?:会议)?(?:时间|地点)|主持|出席|列席|缺席|记录|参会人员|参加人员)[：:]"
)


def is_furniture(line: str) -> bool:
    """Whether a line (stripped) is a masthead, a number, addressees, a 版记 or a field of minutes."""
    return bool(MASTHEAD.match(line) or ADDRESSEES.match(line))
