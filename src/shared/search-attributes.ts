import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes: what the Web UI and `ovirt-tasks list` filter on. Registered on the
 * server by `ovirt-tasks dev` (and by the compose setup) from SEARCH_ATTRIBUTE_REGISTRATIONS.
 */
export const SA = {
  CommandType: defineSearchAttributeKey('CommandType', SearchAttributeType.KEYWORD),
  CommandStatus: defineSearchAttributeKey('CommandStatus', SearchAttributeType.KEYWORD),
  VmId: defineSearchAttributeKey('VmId', SearchAttributeType.KEYWORD),
  ImageIds: defineSearchAttributeKey('ImageIds', SearchAttributeType.KEYWORD_LIST),
  StoragePoolId: defineSearchAttributeKey('StoragePoolId', SearchAttributeType.KEYWORD),
  VdsmTaskIds: defineSearchAttributeKey('VdsmTaskIds', SearchAttributeType.KEYWORD_LIST),
  ParentCommandId: defineSearchAttributeKey('ParentCommandId', SearchAttributeType.KEYWORD),
  AsyncTaskState: defineSearchAttributeKey('AsyncTaskState', SearchAttributeType.KEYWORD),
} as const;

/** Search attribute values are size-limited (2 KiB by default): keyword lists name this many ids at most. */
export const MAX_IDS_IN_SEARCH_ATTRIBUTE = 50;

/** `Name=Type` pairs in the form `temporal server start-dev --search-attribute` and `temporal operator search-attribute create` take. */
export const SEARCH_ATTRIBUTE_REGISTRATIONS: ReadonlyArray<{ name: string; type: string }> = [
  { name: 'CommandType', type: 'Keyword' },
  { name: 'CommandStatus', type: 'Keyword' },
  { name: 'VmId', type: 'Keyword' },
  { name: 'ImageIds', type: 'KeywordList' },
  { name: 'StoragePoolId', type: 'Keyword' },
  { name: 'VdsmTaskIds', type: 'KeywordList' },
  { name: 'ParentCommandId', type: 'Keyword' },
  { name: 'AsyncTaskState', type: 'Keyword' },
];
